export function NotBuilt(props: { title: string }) {
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">{props.title}</h1>
      <div class="card empty">
        <p><strong>Not built yet.</strong></p>
        <p class="muted">This part of the dashboard is still to come. The API for it may already exist: see the API documentation at <a href="/api/v1/docs">/api/v1/docs</a>.</p>
      </div>
    </section>
  )
}
