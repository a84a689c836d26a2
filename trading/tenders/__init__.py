"""Tenders: drafts, publication, documents, clarifications, objections."""
