"""Sharing: the one compiled policy per consumer and feed, and the pull views built from it.

``policy`` turns the three lists, the fields' classification levels and the consumer's
clearance into columns and their transforms; the feed extractor (``tierflow.sink``) and the
pull views (``views``) both consume it, so the two paths cannot disagree.
"""
