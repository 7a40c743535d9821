# ctest driver: TOOL --vocab-dir VOCAB_DIR ARGS < INPUT > OUTPUT, then OUTPUT must equal EXPECTED.
execute_process(COMMAND ${TOOL} --vocab-dir ${VOCAB_DIR} ${ARGS}
  INPUT_FILE ${INPUT} OUTPUT_FILE ${OUTPUT} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "quant-tokenize failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${OUTPUT} ${EXPECTED} RESULT_VARIABLE diff)
if(NOT diff EQUAL 0)
  message(FATAL_ERROR "${OUTPUT} differs from ${EXPECTED}")
endif()
