# cnncConfig.cmake: the CMake package of cnnc, installed by `make install`
# in <prefix>/lib/cmake/cnnc. find_package(cnnc) gives
#
#   cnnc_add_model(TARGET model.net [WEIGHTS w.safetensors]
#                  [QUANTIZE int8 CALIBRATE calib.bin]
#                  [TEST_INPUT in.bin TEST_EXPECTED out.bin]
#                  [OPTIONS cnnc-option...])
#
# a static library TARGET of the C cnnc generates from model.net at build
# time (TARGET.c, and TARGET_selftest.c with the self-test data, built with
# CNNC_TEST_NO_MAIN), its header TARGET.h on the include path, linked with
# cnnc::runtime. cnnc's dependency file (-MD -MF) makes the build
# regenerate when the model, weights, calibration or test data change, and
# only then. TARGET_NETWORK and TARGET_NETWORK_UPPER are set to the
# network's name (its generated symbols start with it).
#
# Also: CNNC_EXECUTABLE, CNNC_RUNTIME_DIR, CNNC_FIRMWARE_DIR (the firmware
# template) and CNNC_ARM_TOOLCHAIN (arm-none-eabi.cmake, a toolchain file
# for Cortex-M). Needs CMake 3.20 (DEPFILE with Make and Ninja).

if(CMAKE_VERSION VERSION_LESS 3.20)
  set(cnnc_FOUND FALSE)
  set(cnnc_NOT_FOUND_MESSAGE "cnnc's package needs CMake 3.20 or later (add_custom_command DEPFILE)")
  return()
endif()

get_filename_component(_cnnc_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT CNNC_EXECUTABLE)
  set(CNNC_EXECUTABLE "${_cnnc_prefix}/bin/cnnc")
endif()
set(CNNC_RUNTIME_DIR "${_cnnc_prefix}/share/cnnc/runtime")
set(CNNC_FIRMWARE_DIR "${_cnnc_prefix}/share/cnnc/firmware")
set(CNNC_ARM_TOOLCHAIN "${CMAKE_CURRENT_LIST_DIR}/arm-none-eabi.cmake")

if(NOT EXISTS "${CNNC_EXECUTABLE}" OR NOT EXISTS "${CNNC_RUNTIME_DIR}/cnnc_rt.c")
  set(cnnc_FOUND FALSE)
  set(cnnc_NOT_FOUND_MESSAGE "cnnc's package in ${CMAKE_CURRENT_LIST_DIR} is incomplete: no ${CNNC_EXECUTABLE} or ${CNNC_RUNTIME_DIR}")
  return()
endif()

# Generated code and the runtime are C, whatever else the project is.
get_property(_cnnc_languages GLOBAL PROPERTY ENABLED_LANGUAGES)
if(NOT "C" IN_LIST _cnnc_languages)
  enable_language(C)
endif()

# The runtime, built with the project's compiler (the target's, when cross
# compiling): one static library however many models link it.
if(NOT TARGET cnnc::runtime)
  add_library(cnnc_runtime STATIC "${CNNC_RUNTIME_DIR}/cnnc_rt.c")
  target_include_directories(cnnc_runtime PUBLIC "${CNNC_RUNTIME_DIR}")
  set_target_properties(cnnc_runtime PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
  add_library(cnnc::runtime ALIAS cnnc_runtime)
endif()

# An input file of cnnc_add_model, made absolute; a missing one is an error
# now rather than at build time.
function(_cnnc_input target what path out)
  get_filename_component(abs "${path}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT EXISTS "${abs}" OR IS_DIRECTORY "${abs}")
    message(FATAL_ERROR "cnnc_add_model(${target}): ${what} '${path}' not found (${abs})")
  endif()
  set(${out} "${abs}" PARENT_SCOPE)
endfunction()

function(cnnc_add_model target model)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "WEIGHTS;QUANTIZE;CALIBRATE;TEST_INPUT;TEST_EXPECTED" "OPTIONS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "cnnc_add_model(${target}): unexpected arguments: ${arg_UNPARSED_ARGUMENTS} "
                        "(keywords: WEIGHTS QUANTIZE CALIBRATE TEST_INPUT TEST_EXPECTED OPTIONS)")
  endif()
  _cnnc_input(${target} model "${model}" model)
  set(deps "${model}")
  set(args "${model}")

  if(arg_WEIGHTS)
    _cnnc_input(${target} WEIGHTS "${arg_WEIGHTS}" weights)
    list(APPEND deps "${weights}")
    list(APPEND args -w "${weights}")
  elseif(NOT arg_OPTIONS MATCHES "--init=")
    message(FATAL_ERROR "cnnc_add_model(${target}): give WEIGHTS file.safetensors (or OPTIONS --init=zeros to try the model)")
  endif()

  if(arg_QUANTIZE OR arg_CALIBRATE)
    if(NOT arg_QUANTIZE STREQUAL "int8")
      message(FATAL_ERROR "cnnc_add_model(${target}): QUANTIZE must be int8 (and CALIBRATE needs it)")
    endif()
    if(NOT arg_CALIBRATE)
      message(FATAL_ERROR "cnnc_add_model(${target}): QUANTIZE int8 needs CALIBRATE file (raw float32 inputs)")
    endif()
    _cnnc_input(${target} CALIBRATE "${arg_CALIBRATE}" calib)
    list(APPEND deps "${calib}")
    list(APPEND args --quantize=int8 --calibrate "${calib}")
  endif()

  set(dir "${CMAKE_CURRENT_BINARY_DIR}/cnnc/${target}")
  file(MAKE_DIRECTORY "${dir}")
  set(outputs "${dir}/${target}.c" "${dir}/${target}.h")
  set(sources "${dir}/${target}.c")
  if(arg_TEST_INPUT OR arg_TEST_EXPECTED)
    if(NOT arg_TEST_INPUT OR NOT arg_TEST_EXPECTED)
      message(FATAL_ERROR "cnnc_add_model(${target}): the self-test needs both TEST_INPUT and TEST_EXPECTED")
    endif()
    _cnnc_input(${target} TEST_INPUT "${arg_TEST_INPUT}" tin)
    _cnnc_input(${target} TEST_EXPECTED "${arg_TEST_EXPECTED}" texp)
    set(selftest "${dir}/${target}_selftest.c")
    list(APPEND deps "${tin}" "${texp}")
    list(APPEND args --emit-test "${selftest}" --test-input "${tin}" --test-expected "${texp}")
    list(APPEND outputs "${selftest}")
    list(APPEND sources "${selftest}")
    set_source_files_properties("${selftest}" PROPERTIES COMPILE_DEFINITIONS CNNC_TEST_NO_MAIN)
  endif()

  # the network's name, from its 'network NAME' line
  file(STRINGS "${model}" net REGEX "^[ \t]*network[ \t]+[A-Za-z_][A-Za-z0-9_]*" LIMIT_COUNT 1)
  string(REGEX REPLACE "^[ \t]*network[ \t]+([A-Za-z_][A-Za-z0-9_]*).*" "\\1" net "${net}")
  if(NOT net)
    message(FATAL_ERROR "cnnc_add_model(${target}): no 'network NAME' line in '${model}'")
  endif()
  string(TOUPPER "${net}" net_upper)

  add_custom_command(
    OUTPUT ${outputs}
    COMMAND "${CNNC_EXECUTABLE}" ${args} ${arg_OPTIONS} -o "${dir}/${target}.c" -MD -MF "${dir}/${target}.d"
    DEPENDS ${deps} "${CNNC_EXECUTABLE}"
    DEPFILE "${dir}/${target}.d"
    COMMENT "cnnc: generating ${target}.c from ${model}"
    VERBATIM)
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} PUBLIC "${dir}")
  target_link_libraries(${target} PUBLIC cnnc::runtime)
  set_target_properties(${target} PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                                             CNNC_NETWORK "${net}")
  set(${target}_NETWORK "${net}" PARENT_SCOPE)
  set(${target}_NETWORK_UPPER "${net_upper}" PARENT_SCOPE)
endfunction()

set(cnnc_FOUND TRUE)
