"""The school database: one `connect`, every table in versioned migrations, keys, erasure queue, tabular import."""
