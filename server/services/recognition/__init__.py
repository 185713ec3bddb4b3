"""Recognition at a store: go-live and signage, sealed galleries, edge devices, arrivals
and their writer, the AI Act record."""
