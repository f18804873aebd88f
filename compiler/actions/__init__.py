"""Actions: steps with side effects outside the output tree (the network, a Docker engine).

The build runs them only when asked (`deployc build --image`), except wheel vendoring, which
a hermetic image context needs and which keeps its downloads in the deployc cache.
"""
