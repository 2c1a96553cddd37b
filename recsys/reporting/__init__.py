"""The team dashboard: what the pipeline, registry, monitoring and service wrote, as one page.

``recsys.reporting.dashboard.build_dashboard`` reads the runs' outputs (MLflow store, run
records, validation results, shilling reports, drift decisions, inference log) and writes a
static ``index.html`` with inline SVG plots; nothing is fetched from a CDN.
"""
