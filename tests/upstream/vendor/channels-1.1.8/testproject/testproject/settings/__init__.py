# Blank on purpose
