"""The HTTP service (FastAPI): one module-level router per group of routes (`calls`, `sip`,
`admin`, `tickets`, `notifications`, `board`, `health`), reaching the `Service` of `core` and its
companions through the dependencies of `deps`; `app` puts them together. `http` holds what every
route shares (refusals, reading bodies), `transactions` the store side of a decision,
`publishing` the publishing of flow versions, `auth` and `sessions` who may call what."""
