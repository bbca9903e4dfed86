"""File formats and rendering: the org file, the tip file, the tip table, spreadsheets
(XLSX with formula-safe cells), images and the score chart. Bytes and rows in, bytes
and rows out; the domain calls them, they never call the domain."""
