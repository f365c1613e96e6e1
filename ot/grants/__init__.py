"""Express permission for third parties: grants (`ot.grants.store`), the limits every read
through one stays within (`ot.grants.fit`, `ot.grants.quota`), small counts hidden by answering
from cells (`ot.grants.cells`, `ot.grants.combine`), the reads themselves (`ot.grants.reads`),
and grants suspended when the people behind them go (`ot.accounts.grant_suspension`).

Default deny: nobody outside an account reads anything unless the customer granted it, to a
named third party, for a purpose, for some sites, metrics, dimensions and days, until an expiry.
"""
