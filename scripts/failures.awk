# Prints, after a failed run, each failed test with the output that came just before it (its error), and each error
# Bun reported between tests. Bun prints a test's error above its "(fail)" line and lists only the names at the end,
# so in a long run (a CI log cut to its tail) the reasons were scrolled away; this repeats them last.
function flush_buffer() { n = 0 }
function keep(line) {
  buffer[n % KEEP] = line
  n++
}
BEGIN { KEEP = 60; n = 0; summary = 0; failures = 0; unhandled = 0 }
summary { next }
/^[0-9]+ tests (failed|skipped|todo):$/ { summary = 1; next }
unhandled {
  out = out $0 "\n"
  if (/^-+$/ && ++dashes == 2) { unhandled = 0; flush_buffer() }
  next
}
/^# Unhandled error/ { unhandled = 1; dashes = 0; out = out "\n" $0 "\n"; failures++; next }
/^\(fail\) / {
  out = out "\n"
  for (i = (n > KEEP ? n - KEEP : 0); i < n; i++) out = out buffer[i % KEEP] "\n"
  out = out $0 "\n"
  failures++
  flush_buffer()
  next
}
/^\((pass|skip|todo)\) / || /\.test\.tsx?:$/ { flush_buffer(); next }
{ keep($0) }
END {
  if (failures > 0) printf "\n== %d failures and errors between tests, each with what was printed before it\n%s", failures, out
}
