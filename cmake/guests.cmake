# Guests assembled at build time: every tests/guests/NAME.asm becomes the flat
# image ${SOFTVMM_GUEST_DIR}/NAME.bin (nasm -f bin), loaded at 0x7C00 by the
# tests and by `make demo`.  Included from the top-level CMakeLists.txt, which
# has already found NASM_EXECUTABLE.
#
# The benchmark guests are not built here: ../shared/bench holds them prebuilt,
# with their expected output, and the tests read them from SOFTVMM_BENCH_DIR.

set(SOFTVMM_GUEST_SRC_DIR ${PROJECT_SOURCE_DIR}/tests/guests)
set(SOFTVMM_GUEST_DIR ${PROJECT_BINARY_DIR}/guests)

# A cache variable so that a checkout whose shared/ lives elsewhere can point
# the tests at it (cmake -DSOFTVMM_BENCH_DIR=...).  The default is the sibling
# ../shared/bench, normalised so that test messages print a plain path; a
# clone without it (as CI may have) falls back to the copies of the small
# images and their expected output in tests/data/bench.
get_filename_component(_softvmm_bench_default ${PROJECT_SOURCE_DIR}/../shared/bench ABSOLUTE)
if(NOT EXISTS ${_softvmm_bench_default}/expected/alu-small.out)
  set(_softvmm_bench_default ${PROJECT_SOURCE_DIR}/tests/data/bench)
endif()
set(SOFTVMM_BENCH_DIR ${_softvmm_bench_default} CACHE PATH
  "Directory of the prebuilt benchmark guests and their expected/ output")

# CONFIGURE_DEPENDS: a guest added or removed later is picked up by the next
# build without re-running cmake by hand.
file(GLOB _softvmm_guest_sources CONFIGURE_DEPENDS ${SOFTVMM_GUEST_SRC_DIR}/*.asm)
file(GLOB _softvmm_guest_includes CONFIGURE_DEPENDS ${SOFTVMM_GUEST_SRC_DIR}/*.inc)

file(MAKE_DIRECTORY ${SOFTVMM_GUEST_DIR})

set(_softvmm_guest_images "")
foreach(_src ${_softvmm_guest_sources})
  get_filename_component(_name ${_src} NAME_WE)
  set(_bin ${SOFTVMM_GUEST_DIR}/${_name}.bin)
  # Every guest depends on every .inc: NASM can write a dependency file, but
  # the guests are few and small, so rebuilding them all is simpler and safe.
  # -Werror: the project treats warnings as errors in assembly as well as C.
  add_custom_command(
    OUTPUT ${_bin}
    COMMAND ${NASM_EXECUTABLE} -f bin -Werror -I ${SOFTVMM_GUEST_SRC_DIR}/ -o ${_bin} ${_src}
    DEPENDS ${_src} ${_softvmm_guest_includes}
    COMMENT "Assembling guest ${_name}.bin"
    VERBATIM)
  list(APPEND _softvmm_guest_images ${_bin})
endforeach()

add_custom_target(guests ALL DEPENDS ${_softvmm_guest_images})
