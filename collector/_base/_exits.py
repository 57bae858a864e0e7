"""The exit codes of `collector run` (and of each pass of `collector schedule`, in its log):

    0  complete: every tenant finished and nothing was deferred, failed, quarantined or waiting
    1  partial: at least one tenant stopped, or left work for a later run (see the summary)
    2  configuration error: nothing ran
    3  the store is busy: another run holds its lock
    4  waiting for the vendor: everything finished except items the vendor is still processing
       (media or transcripts not ready yet); later runs ask for them again
    5  the store failed: disk full, permission denied, a damaged or newer catalog, a read-only
       store; the message names the store and what to do (nothing counted against any item)
    6  lost (`verify`): a stored recording is damaged or missing and the vendor no longer has it
       (the damaged copy is kept in quarantine)
    7  the evidence does not hold (`verify --chain`): a chain link, a checkpoint or a stored file's
       row disagrees with the evidence chain (each problem is named); the store may have been
       changed behind the collector's back
"""

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_CONFIG = 2
EXIT_BUSY = 3
EXIT_WAITING = 4
EXIT_STORE = 5
EXIT_LOST = 6
EXIT_TAMPERED = 7

OUTCOMES = {EXIT_OK: "complete", EXIT_PARTIAL: "partial", EXIT_WAITING: "waiting", EXIT_STORE: "store failed"}
"""How a run's outcome is named in the catalog, by exit code."""
