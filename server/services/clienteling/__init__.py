"""What the salesperson sees and what feeds it: visits, cards, catalogue,
recommendations, POS, importer."""
