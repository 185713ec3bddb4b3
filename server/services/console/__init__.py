"""The privacy officer's console: views, exports, the Art. 30 record, charts, PDFs,
audit-chain verification."""
