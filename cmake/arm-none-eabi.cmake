# arm-none-eabi.cmake: a CMake toolchain file for Cortex-M with Debian's
# gcc-arm-none-eabi and newlib, shipped with cnnc's CMake package:
#   cmake -G Ninja -DCMAKE_TOOLCHAIN_FILE=<prefix>/lib/cmake/cnnc/arm-none-eabi.cmake ...
# The core defaults to a Cortex-M4F (qemu's mps2-an386); another with
#   -DCNNC_ARM_CPU="-mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16"
# cnnc itself runs on the build machine, found by find_package(cnnc).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(CNNC_ARM_CPU "-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16"
    CACHE STRING "the core's gcc flags (cnnc's arm-none-eabi toolchain file)")
set(CNNC_ARM_PREFIX "arm-none-eabi-" CACHE STRING "the cross tools' prefix")

set(CMAKE_C_COMPILER "${CNNC_ARM_PREFIX}gcc")
set(CMAKE_CXX_COMPILER "${CNNC_ARM_PREFIX}g++")
set(CMAKE_ASM_COMPILER "${CNNC_ARM_PREFIX}gcc")
set(CMAKE_OBJCOPY "${CNNC_ARM_PREFIX}objcopy" CACHE FILEPATH "")
set(CMAKE_SIZE "${CNNC_ARM_PREFIX}size" CACHE FILEPATH "")

set(CMAKE_C_FLAGS_INIT "${CNNC_ARM_CPU} -ffunction-sections -fdata-sections")
set(CMAKE_CXX_FLAGS_INIT "${CNNC_ARM_CPU} -ffunction-sections -fdata-sections")
set(CMAKE_ASM_FLAGS_INIT "${CNNC_ARM_CPU}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${CNNC_ARM_CPU} -Wl,--gc-sections")

# No operating system to link a test program for: compiler checks build a
# static library instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

# Programs (cnnc, qemu) and packages from the build machine; libraries and headers from
# the target's sysroot only.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH) # cnnc's own package is a host one
