# expect: runtime error
require "reject";
reject "no";
keep;
