"""The record of an assembly (issue #19): what a working group publishes after a sitting.

One concept a module, each built on `public` (what any observer may see, read once through the
domain's own public views, never from the raw tables' private columns):

- `public`: the observer's view of a whole assembly (`PublicRecord`), the one source of every
  output below. Hidden comments, password hashes, tokens, CSRF values and private keys are never
  read into it.
- `archive`: the open-data archive (one .zip: JSON, CSV views, a JSON Schema per JSON file, and
  each election's directory exactly as `kurultai export` writes it); format in docs/open-data.md.
- `schemas`: the JSON Schemas of the archive's files.
- `adopted`: the adopted text as DOCX (python-docx) and PDF (WeasyPrint from
  templates/record/adopted_text.html, with an embedded font that has the Kazakh letters).
- `minutes`: the minutes of a sitting as PDF and DOCX (attendance, each agenda item with its
  phases, speakers, amendments and votes, each vote with its digest, signed tree head, result
  signature and a QR code of its public page; segno draws the codes).
- `table`: the comparative table as PDF and DOCX, landscape (one row per amended provision, the
  adopted wording with the redline, the amendments proposed and the votes that decided them).
- `render`: the shared document plumbing (the Jinja environment in a chosen language, the font,
  PDF rendering, a DOCX with the font and language set).

The CLI (`kurultai archive`, `kurultai adopted-text`, `kurultai minutes`, `kurultai table`) and the HTTP downloads
(kurultai/web/record_api.py) call these; the builders that take long (zip, PDF, DOCX) are plain
functions over data already read, so the server runs them in a thread.
"""
