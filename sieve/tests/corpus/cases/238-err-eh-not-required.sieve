# expect: compile error
addheader "X-A" "v";
