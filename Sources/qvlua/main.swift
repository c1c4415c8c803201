import Runtime
BLASKernels.relaunchWithFastKernelsIfNeeded()
print("qvlua (skeleton) BLAS core:", BLASKernels.coreName)
