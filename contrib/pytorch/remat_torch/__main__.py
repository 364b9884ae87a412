"""python3 -m remat_torch PLAN.yaml [--model module:function]: see apply._main."""
from .apply import _main

raise SystemExit(_main())
