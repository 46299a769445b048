"""Rendering an audit: HTML (the packaged Jinja2 template templates/report.html.j2, autoescaped, plots inline,
strict CSP), Markdown. Statistics live one level up; nothing here computes a number, it only formats them."""
