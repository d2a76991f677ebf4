# CMake toolchain file for the Cortex-M boards: arm-none-eabi-gcc from PATH. Use it with
# -DQC_BOARD=cortex-m4|cortex-m7|cortex-m55 (CMakeLists.txt adds the CPU flags, newlib-nano,
# semihosting, the startup file and the linker script).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_AR arm-none-eabi-ar CACHE FILEPATH "")
set(CMAKE_RANLIB arm-none-eabi-ranlib CACHE FILEPATH "")
# The compiler check cannot link a program before the startup file and linker script exist.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
