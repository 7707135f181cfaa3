"""Writes for renders, by concern: `jobs` (create, single-flight, the state machine),
`kinds` (one `<kind>_render_create` per render kind, each building its spec once),
`execution` (what a worker does with a job), `templates`, `batches`, `signing`, `upkeep`
(the periodic sweeps). Import from the module that owns a function."""
