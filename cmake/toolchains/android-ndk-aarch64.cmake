# Cross build for 64-bit ARM Android phones with the Android NDK (r23 or newer), for the standalone
# calibrator and the kernels:
#
#   export ANDROID_NDK=/path/to/android-ndk-r26d
#   cmake -S . -B build-android -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/android-ndk-aarch64.cmake \
#         -DCMAKE_BUILD_TYPE=Release -DHILSIM_KERNELS_ONLY=ON -DHILSIM_BUILD_TESTS=OFF
#   cmake --build build-android -j --target hilsim-calibrate
#
# The NDK's own toolchain file does the work; this one only fixes the ABI, the API level and a static
# C++ runtime, so the binary pushed with adb needs nothing on the phone. nlohmann json and Eigen are
# header-only and taken from the host (see the hilsim-calibrate block of CMakeLists.txt).
if(NOT DEFINED ENV{ANDROID_NDK} AND NOT DEFINED ANDROID_NDK)
  message(FATAL_ERROR "set ANDROID_NDK (environment or -DANDROID_NDK=) to the NDK's directory")
endif()
if(NOT DEFINED ANDROID_NDK)
  set(ANDROID_NDK $ENV{ANDROID_NDK})
endif()
set(ANDROID_ABI arm64-v8a CACHE STRING "")
set(ANDROID_PLATFORM android-26 CACHE STRING "")  # Android 8.0: sched_setaffinity, getauxval
set(ANDROID_STL c++_static CACHE STRING "")
set(ANDROID_ARM_NEON ON CACHE BOOL "")
include(${ANDROID_NDK}/build/cmake/android.toolchain.cmake)
# The NDK toolchain searches only its sysroot; host header-only libraries are found explicitly.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
