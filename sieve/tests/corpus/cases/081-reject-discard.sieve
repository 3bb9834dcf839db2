require "reject";
discard;
reject "no";
