"""What a plugin implements, and the listing strategies it is built from.

- `_source`          `Source`, `SourceSettings`, `Page`, `SourceContext`, `ListingCount`,
                     `VendorCount`: the contract between a plugin and the collector;
- `_paging`, `_paginators`, `_expiry`   paging through a vendor's list (requests in the query or a
                     JSON body; cursor, next URL, offset, page number), positions that expire;
- `_incremental`, `_changefeed`, `_windows`, `_datewindows`   listing strategies: a watermark with
                     an overlap, a change feed, time windows, date windows.

May import: `archive_check`, `_base`, `_http`.
"""
