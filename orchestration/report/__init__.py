"""The report page: queries over the published marts (`queries`), their charts (`charts`), the
page (`page`, with `report.html.j2`), and headless Chromium to look at it (`browser`)."""
