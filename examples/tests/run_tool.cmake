# ctest driver: TOOL --vocab-dir VOCAB_DIR ARGS < INPUT > OUTPUT, then OUTPUT must equal
# EXPECTED; or, with EXPECT_ERROR set, the tool must fail with EXPECT_ERROR in its stderr.
execute_process(COMMAND ${TOOL} --vocab-dir ${VOCAB_DIR} ${ARGS}
  INPUT_FILE ${INPUT} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(DEFINED EXPECT_ERROR)
  string(FIND "${err}" "${EXPECT_ERROR}" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "expected a failure saying \"${EXPECT_ERROR}\", got exit ${rc}: ${err}")
  endif()
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "quant-tokenize failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUTPUT} ${EXPECTED} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "${OUTPUT} differs from ${EXPECTED}")
endif()
