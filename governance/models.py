"""Every table of the hub database, imported by the migrations environment.

Each governance domain keeps its models in its own module; this module imports
them all so that ``Base.metadata`` knows every table.
"""

from governance.db import Base

__all__ = ["Base"]
