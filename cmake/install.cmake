# Installation: the library in both forms, the command, the public headers
# and a pkg-config file.  Included from the top-level CMakeLists.txt after
# the targets exist.

install(TARGETS softvmm_static softvmm_shared softvmm
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/softvmm/
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/softvmm
  FILES_MATCHING PATTERN "*.h")

# --- softvmm.pc ---------------------------------------------------------------
# The paths are written relative to the .pc file's own directory
# (${pcfiledir}), so the file stays right when the prefix is chosen at install
# time (cmake --install --prefix, as the install test does) rather than at
# configure time.  Absolute install dirs are used as they are.
set(_softvmm_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${_softvmm_pc_dir}")
  set(SOFTVMM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _softvmm_pc_up "/p/${_softvmm_pc_dir}" "/p")
  string(REGEX REPLACE "/$" "" _softvmm_pc_up "${_softvmm_pc_up}")
  set(SOFTVMM_PC_PREFIX "\${pcfiledir}/${_softvmm_pc_up}")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SOFTVMM_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SOFTVMM_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()

# Debian 12's libzydis-dev ships CMake config files but no zydis.pc, so zydis
# can be named in Requires.private only where a zydis.pc exists; elsewhere its
# libraries go in Libs.private, which only static links use.
find_package(PkgConfig REQUIRED)
pkg_check_modules(_SOFTVMM_PC_ZYDIS QUIET zydis)
if(_SOFTVMM_PC_ZYDIS_FOUND)
  set(SOFTVMM_PC_REQUIRES_PRIVATE "zydis libxxhash")
  set(SOFTVMM_PC_LIBS_PRIVATE "")
else()
  set(SOFTVMM_PC_REQUIRES_PRIVATE "libxxhash")
  set(SOFTVMM_PC_LIBS_PRIVATE "-lZydis -lZycore")
endif()

configure_file(${PROJECT_SOURCE_DIR}/cmake/softvmm.pc.in
  ${PROJECT_BINARY_DIR}/softvmm.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/softvmm.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
