trigger QboSyncAccount on Account(after insert, after update, after delete, after undelete) {
    QboSyncTriggerHandler.handleTrigger();
}
