"""Rendering an audit: HTML (plots inline, strict CSP), Markdown. Statistics live one level up; nothing here computes a number."""
