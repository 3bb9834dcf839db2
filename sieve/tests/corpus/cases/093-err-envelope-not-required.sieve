# expect: compile error
if envelope :is "from" "x" { keep; }
