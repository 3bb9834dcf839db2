# expect: compile error
set "a" "b";
