"""The spec in every form: the IR, spans, diagnostics and their codes, the
``.kspec`` front end and printer, the YAML front end and printer."""
