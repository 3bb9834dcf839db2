require "reject";
reject "line one
line two";
