"""One lock for importing Faker's locale providers.

The name and place dictionaries import hundreds of provider modules that import one another; two threads doing
so at once (the pipeline scans and profiles in parallel) can each hold a module the other needs, and Python
raises ``_DeadlockError``. Loading them one at a time under this lock avoids it.
"""

import threading

PROVIDERS_LOCK = threading.Lock()
