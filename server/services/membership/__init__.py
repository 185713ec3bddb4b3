"""Customers' memberships: enrolment, faces, passes, consent lifecycle, retention, keys,
export, self-service, receipts."""
