"""Express permission for third parties: grants, the reads made through them, and the limits
every such read stays within (`ot.grants.store`, `ot.grants.fit`, `ot.grants.reads`).

Default deny: nobody outside an account reads anything unless the customer granted it, to a
named third party, for a purpose, for some sites, metrics, dimensions and days, until an expiry.
"""
