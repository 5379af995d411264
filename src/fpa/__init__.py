"""fpa-warehouse: the Guangxi Family Planning Association data warehouse."""
