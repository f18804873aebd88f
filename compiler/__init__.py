"""deployc: a declarative deploy compiler for ML models.

Pipeline (data flows one way): frontend -> planner -> passes -> emitters -> writer.
"""

__version__ = "0.1.0"
