"""ipywidgets for the workbook: each widget also renders a static HTML fallback when run headless."""
