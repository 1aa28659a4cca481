# Fails when C code divides a sizeof by a sizeof to count an array's
# elements: ARRAY_SIZE of common/mlc_alloc.h says it once, and the next
# reader does not have to check that both operands name the same array. Run
# by ctest as unit.array_size: cmake -DSRC=<source dir> -P tests/check_array_size.cmake
if(NOT SRC)
  message(FATAL_ERROR "check_array_size: pass -DSRC=<source dir>")
endif()
set(dirs common extractor loader cli sandbox bench tests)
set(allowed common/mlc_alloc.h)
# sizeof(x) / sizeof(x[0]) on one line, or a line that ends in "sizeof(x) /"
# with the divisor on the next one (file(STRINGS) reads line by line).
set(open_coded "sizeof[^;]*/[ \t]*sizeof|sizeof[ \t]*\\([^;]*\\)[ \t]*/[ \t]*$")

set(found 0)
foreach(dir ${dirs})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${dir}/*.c ${SRC}/${dir}/*.h)
  list(SORT files)
  foreach(f ${files})
    list(FIND allowed ${f} ok)
    if(NOT ok EQUAL -1)
      continue()
    endif()
    file(STRINGS ${SRC}/${f} hits REGEX "${open_coded}")
    foreach(line ${hits})
      string(STRIP "${line}" line)
      message("${f}: open-coded element count, use ARRAY_SIZE (mlc_alloc.h): ${line}")
      math(EXPR found "${found} + 1")
    endforeach()
  endforeach()
endforeach()
if(found GREATER 0)
  message(FATAL_ERROR "${found} open-coded sizeof(x) / sizeof(x[0]); use ARRAY_SIZE")
endif()
message("no open-coded element count outside common/mlc_alloc.h")
