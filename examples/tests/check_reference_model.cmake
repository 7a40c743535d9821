# ctest driver: runs an evaluation program (TOOL ARGS, writing OUT_DIR/STEM.json) on a shipped
# reference model with the 'original' (fp32) configuration only, and compares the metric KEY of
# that row with what PyTorch measured on the same data (METRICS, written by
# tools/train_reference_models.py): |ours - torch| <= TOL.
execute_process(COMMAND ${TOOL} ${ARGS} --configs original --out ${OUT_DIR}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TOOL} failed (${rc}): ${err}")
endif()
file(READ ${OUT_DIR}/${STEM}.json ours)
file(READ ${METRICS} torch)
string(JSON got GET "${ours}" rows 0 ${KEY})
string(JSON want GET "${torch}" ${KEY})

# math() is integer-only: decimal strings to integer millionths
function(to_micro str out)
  if(NOT str MATCHES "^([0-9]+)(\\.([0-9]*))?$")
    message(FATAL_ERROR "'${str}' is not a plain non-negative decimal number")
  endif()
  set(frac "${CMAKE_MATCH_3}000000")
  string(SUBSTRING "${frac}" 0 6 frac)
  string(REGEX REPLACE "^0+([0-9])" "\\1" frac "${frac}")
  math(EXPR v "${CMAKE_MATCH_1} * 1000000 + ${frac}")
  set(${out} ${v} PARENT_SCOPE)
endfunction()
to_micro("${got}" g)
to_micro("${want}" w)
to_micro("${TOL}" t)
math(EXPR d "${g} - ${w}")
if(d LESS 0)
  math(EXPR d "-${d}")
endif()
if(d GREATER t)
  message(FATAL_ERROR "${KEY}: ours ${got}, PyTorch ${want} (${METRICS}): differ by more than ${TOL}")
endif()
message(STATUS "${KEY}: ours ${got}, PyTorch ${want}")
