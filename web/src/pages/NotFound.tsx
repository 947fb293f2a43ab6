import { A } from '@solidjs/router'

export function NotFound() {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Page not found</h1>
      <p>There is no page at this address. <A href="/">Go to the overview</A>.</p>
    </section>
  )
}
