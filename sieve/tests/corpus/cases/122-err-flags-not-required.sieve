# expect: compile error
addflag "x";
