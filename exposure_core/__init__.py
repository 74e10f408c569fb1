"""The ground floor: image I/O, exposure maths and statistics, the shard format, files,
console and the one user-error type. Imports neither ``exposure_models`` nor ``pipeline``."""
