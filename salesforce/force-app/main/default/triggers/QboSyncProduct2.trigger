trigger QboSyncProduct2 on Product2(after insert, after update, after delete, after undelete) {
    QboSyncTriggerHandler.handleTrigger();
}
