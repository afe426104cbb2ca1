"""The case-lookup console: a local web application over the records (Starlette + Jinja2).

`monitor serve` runs it with uvicorn. It reads through :mod:`monitor.store.records` and
:mod:`monitor.export`, changes a lead's status through the same audit trail as
`monitor leads status`, and treats everything crawled as hostile: autoescaped templates, no
inline scripts (a strict Content-Security-Policy), captured HTML only as a download.
"""
